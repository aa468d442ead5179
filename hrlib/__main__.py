from hrlib.cli import main

raise SystemExit(main())
