"""The web layer: the app factory, layout, translations of pages, problem documents."""
