from autosearch.cli import main

main()
