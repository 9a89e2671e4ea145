//! Fuzz bodies for the rules and inventory parsers (replayed on stable by
//! `tests/fuzz_corpus.rs`).

/// Bytes as a rules file: an error or a catalogue, never a panic.
pub fn rules_bytes(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = flowaudit::catalogue::Catalogue::parse("fuzz.toml", text);
    }
}

/// Bytes as an inventory file: an error or an inventory, never a panic.
pub fn inventory_bytes(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = flowaudit::inventory::Inventory::parse("fuzz.toml", text);
    }
}
