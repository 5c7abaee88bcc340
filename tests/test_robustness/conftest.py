import os
import sys

# Lets the tests import _tiny.py (tiny configs shared by this folder).
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
