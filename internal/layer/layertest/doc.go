// Package layertest makes hostile and odd layers for the tests of layer
// readers (verify, imagediff, snapshot, imagetest): a zstd frame asking for
// a huge window, a truncated gzip blob, a blob served as it is. Tests only;
// it must not be imported by non-test code.
package layertest
