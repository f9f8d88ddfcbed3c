//! Tests of fault decisions and body spoiling.
