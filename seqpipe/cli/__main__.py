"""python -m seqpipe.cli"""
from seqpipe.cli import app

app()
