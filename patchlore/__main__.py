from patchlore.cli.app import main

main()
