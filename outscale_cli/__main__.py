from outscale_cli.app import main

main()
