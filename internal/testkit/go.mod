module github.com/chronyotel/otelcol-chrony/internal/testkit

go 1.26.8
