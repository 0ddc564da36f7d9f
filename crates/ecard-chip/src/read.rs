//! Reading a card back: (placeholder: filled in by its owner)
