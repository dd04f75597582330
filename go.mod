module github.com/chronyotel/otelcol-chrony

go 1.26.8

require codeberg.org/go-pdf/fpdf v0.11.1
