//! Decoder tests on frames built with known ground truth.
