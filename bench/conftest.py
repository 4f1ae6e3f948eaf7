import os
import sys

# Let benchmark modules import the NumPy reference beside them.
sys.path.insert(0, os.path.dirname(__file__))
