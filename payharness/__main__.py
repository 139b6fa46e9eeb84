from payharness.cli import main

raise SystemExit(main())
