//! The `weir` command-line binary.

fn main() {
    println!("weir {}", env!("CARGO_PKG_VERSION"));
}
