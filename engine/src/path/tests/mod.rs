//! Tests of the path module: rule tables first, then properties.

mod env;
mod normalize;
mod pattern;
mod props;
mod set;
