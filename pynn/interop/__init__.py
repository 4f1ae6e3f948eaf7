"""Export pynn models to other formats and import them back.

==============  ===============================  =====================
function        other side                       optional dependency
==============  ===============================  =====================
to_onnx         ONNX (onnxruntime, ...)          onnx  (``pynn[onnx]``)
to_fann         libfann 2.2 ``FANN_FLO_2.1``     none
from_fann       files libfann wrote              none
to_genann       genann text files                none
from_genann     genann text files                none
to_c            a C99 header, float or fixed     none
from_sklearn    fitted MLPClassifier/Regressor   scikit-learn
to_torch        torch.nn.Sequential              torch
from_torch      torch.nn.Sequential              torch
==============  ===============================  =====================

``to_onnx`` also takes a fitted ``pynn.sklearn.MLPClassifier`` (outputs
``label`` and ``probabilities``, as skl2onnx gives for scikit-learn's) or
``MLPRegressor`` (output ``Y``).

Each format lives in its own module; an optional dependency is imported
only inside the function that needs it, so ``import pynn.interop`` imports
none of them.  Importers never execute code from a file.
"""
from pynn.interop.onnx import to_onnx
from pynn.interop.fann import from_fann, to_fann
from pynn.interop.c import to_c
from pynn.interop.sklearn import from_sklearn
from pynn.interop.genann import from_genann, to_genann
from pynn.interop.torch import from_torch, to_torch

__all__ = ["to_onnx", "to_fann", "from_fann", "to_c", "from_sklearn",
           "to_genann", "from_genann", "to_torch", "from_torch"]
