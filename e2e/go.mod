module github.com/chronyotel/otelcol-chrony/e2e

go 1.26.8

require (
	github.com/chronyotel/otelcol-chrony/internal/testkit v0.0.0
	github.com/xitongsys/parquet-go v1.6.2
	github.com/xitongsys/parquet-go-source v0.0.0-20200817004010-026bad9b25d0
)

require (
	github.com/apache/arrow/go/arrow v0.0.0-20200730104253-651201b0f516 // indirect
	github.com/apache/thrift v0.14.2 // indirect
	github.com/golang/snappy v0.0.3 // indirect
	github.com/klauspost/compress v1.13.1 // indirect
	github.com/pierrec/lz4/v4 v4.1.8 // indirect
	golang.org/x/xerrors v0.0.0-20191204190536-9bdfabe68543 // indirect
)

// Test support shared by the modules of this repository, built from here.
replace github.com/chronyotel/otelcol-chrony/internal/testkit => ../internal/testkit
