//! Integration tests of pgkeel-wire.
