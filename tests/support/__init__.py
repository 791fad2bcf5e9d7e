"""Helpers shared by the tests: fake hosts and workflow parts (`hosts`, `workflow`), one clock
(`clock`), record builders (`store`), and rigs around the lab (`lab_world`, `lab_winrm`,
`winrm_lab`, `e2e`). Imported as `support.<module>` (pytest puts `tests/` on the path)."""
