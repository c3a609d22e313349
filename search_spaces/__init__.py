"""The default search-space files; they ship inside the package as autosearch.search_spaces."""
