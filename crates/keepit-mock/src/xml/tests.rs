//! Tests of the XML writer and reader.
