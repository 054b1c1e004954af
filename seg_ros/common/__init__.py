"""Pure helpers every layer uses: image encodings, atomic files, the share folder, statistics."""
