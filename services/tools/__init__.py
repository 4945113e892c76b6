"""Commands that compose several services for an operator (``mailpipe match`` parses with the
parser and decides with the matcher). Like the CLI and devtools they sit outside the services:
they import services, no service imports them."""
