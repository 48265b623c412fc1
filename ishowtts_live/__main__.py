from ishowtts_live.cli import main

raise SystemExit(main())
