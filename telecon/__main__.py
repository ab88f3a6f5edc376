from telecon.cli import main

raise SystemExit(main())
