"""The demo: a made-up fleet and its history (`solde seed-demo`), above every domain app."""
