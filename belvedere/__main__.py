from belvedere.cli import main

main()
