"""USSD: menus as data (menu, menu_file, menu_check), the pure menu engine (engine, render), the
menu versions the daemon has loaded (menu_store, menu_watch) and the menu's download over the app
channel (download). Sessions over SMPP: daemon.ussd.sessions."""
