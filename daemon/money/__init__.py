"""Mobile money: tariff and limits, moves (the ledger postings behind each command) and the commands
that move money (SEND, DEPOSIT, WITHDRAW, COLLECT, vouchers, YES/NO)."""
