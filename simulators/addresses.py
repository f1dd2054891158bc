"""TON/NPI for an address the simulator writes into a PDU."""


def ton_npi(address: str) -> tuple[int, int]:
    """International ISDN for long digit strings, unknown/ISDN for short codes, alphanumeric otherwise."""
    if address.isdigit():
        return (1, 1) if len(address) > 8 else (0, 1)
    return 5, 0
