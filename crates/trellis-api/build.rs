// The web UI is embedded at compile time: rebuild when its build output changes.
fn main() {
    println!("cargo:rerun-if-changed=../../web-ui/dist");
}
