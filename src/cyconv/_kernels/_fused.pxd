# The float types every kernel is specialized for.
ctypedef fused floating:
    float
    double
