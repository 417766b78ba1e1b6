"""The hub server (lz hub serve): app factory, request dependencies, routers by noun, domain rules, web pages, storage and migrations. Runs on the hub host only."""
