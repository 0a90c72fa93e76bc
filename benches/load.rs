fn main() {
    eprintln!("load benchmark: not written yet");
}
