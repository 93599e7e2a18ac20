from synthpriv.cli import main

main()
