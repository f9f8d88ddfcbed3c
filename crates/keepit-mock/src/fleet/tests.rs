//! Tests of fleet generation and serving.
