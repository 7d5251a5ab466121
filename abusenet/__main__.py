from abusenet.cli import main

main()
