package report

import "codeberg.org/go-pdf/fpdf"

// A report is rendered byte for byte the same from the same data and
// generation time: a run that completes a report a failed run began on
// write-once storage renders it again and compares the files that run
// left. The PDF writer lists its fonts in map order unless told to sort its
// catalogs; this is the default for every document the package makes.
func init() { fpdf.SetDefaultCatalogSort(true) }
