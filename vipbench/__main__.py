from vipbench.cli import main

raise SystemExit(main())
