# The ISA descriptor (_isa.h) as the kernel modules read it. _isa.pyx owns the descriptor of
# the level in use; a kernel module binds to it once at import:
#     from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
#     cyconv_isa_bind(isa_descriptor())
# and then calls e.g. ISA.ukr_f32(...) and reads ISA.mr_f32 (see _isa.h).
cdef extern from "_isa.h" nogil:
    ctypedef void (*cyconv_ukr_f32_t)(Py_ssize_t, const float*, const float*, float*,
                                      Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_ukr_f64_t)(Py_ssize_t, const double*, const double*, double*,
                                      Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_ukro_f32_t)(Py_ssize_t, const float*, const float*, const Py_ssize_t*,
                                       float*, Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_ukro_f64_t)(Py_ssize_t, const double*, const double*,
                                       const Py_ssize_t*, double*, Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_ukrb_f32_t)(Py_ssize_t, const float*, const float*, const Py_ssize_t*,
                                       Py_ssize_t, float*, Py_ssize_t, int) noexcept nogil
    ctypedef void (*cyconv_ukrb_f64_t)(Py_ssize_t, const double*, const double*,
                                       const Py_ssize_t*, Py_ssize_t, double*,
                                       Py_ssize_t, int) noexcept nogil
    ctypedef void (*cyconv_unpack_f32_t)(Py_ssize_t, Py_ssize_t, const float*, Py_ssize_t,
                                         float*, Py_ssize_t, const float*) noexcept nogil
    ctypedef void (*cyconv_unpack_f64_t)(Py_ssize_t, Py_ssize_t, const double*, Py_ssize_t,
                                         double*, Py_ssize_t, const double*) noexcept nogil
    ctypedef void (*cyconv_dw_forward_f32_t)(Py_ssize_t, Py_ssize_t, const float*, Py_ssize_t,
                                             Py_ssize_t, const float*, Py_ssize_t, Py_ssize_t,
                                             Py_ssize_t, Py_ssize_t, float,
                                             float*) noexcept nogil
    ctypedef void (*cyconv_dw_forward_f64_t)(Py_ssize_t, Py_ssize_t, const double*, Py_ssize_t,
                                             Py_ssize_t, const double*, Py_ssize_t, Py_ssize_t,
                                             Py_ssize_t, Py_ssize_t, double,
                                             double*) noexcept nogil
    ctypedef void (*cyconv_dw_weight_f32_t)(Py_ssize_t, Py_ssize_t, const float*, const float*,
                                            Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                            Py_ssize_t, Py_ssize_t, double*) noexcept nogil
    ctypedef void (*cyconv_dw_weight_f64_t)(Py_ssize_t, Py_ssize_t, const double*,
                                            const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                            Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                            double*) noexcept nogil
    ctypedef void (*cyconv_dw_pad_f32_t)(const float*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                         Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                         float*) noexcept nogil
    ctypedef void (*cyconv_dw_pad_f64_t)(const double*, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                         Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                         double*) noexcept nogil
    ctypedef void (*cyconv_rowpairs_f32_t)(Py_ssize_t, const float*, const float*,
                                           const Py_ssize_t*, Py_ssize_t, float*,
                                           Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_pixrows_f32_t)(Py_ssize_t, const float*, const float*,
                                          const Py_ssize_t*, int, const Py_ssize_t*, float*,
                                          Py_ssize_t, const Py_ssize_t*, const Py_ssize_t*,
                                          Py_ssize_t, const float*) noexcept nogil
    ctypedef void (*cyconv_pixrows_f64_t)(Py_ssize_t, const double*, const double*,
                                          const Py_ssize_t*, int, const Py_ssize_t*, double*,
                                          Py_ssize_t, const Py_ssize_t*, const Py_ssize_t*,
                                          Py_ssize_t, const double*) noexcept nogil
    ctypedef void (*cyconv_pool_vreduce_f32_t)(int, Py_ssize_t, const float*, Py_ssize_t,
                                               Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                               float*) noexcept nogil
    ctypedef void (*cyconv_pool_vreduce_f64_t)(int, Py_ssize_t, const double*, Py_ssize_t,
                                               Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                               double*) noexcept nogil
    ctypedef void (*cyconv_pool_hreduce_f32_t)(int, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                               Py_ssize_t, const float*, const float*, float,
                                               float*) noexcept nogil
    ctypedef void (*cyconv_pool_hreduce_f64_t)(int, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                               Py_ssize_t, const double*, const double*,
                                               double, double*) noexcept nogil
    ctypedef void (*cyconv_pool_shares_f32_t)(Py_ssize_t, const float*, const float*, float,
                                              int, float*) noexcept nogil
    ctypedef void (*cyconv_pool_shares_f64_t)(Py_ssize_t, const double*, const double*, double,
                                              int, double*) noexcept nogil
    ctypedef void (*cyconv_pool_spread_f32_t)(Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                              const float*, float*) noexcept nogil
    ctypedef void (*cyconv_pool_spread_f64_t)(Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                              const double*, double*) noexcept nogil
    ctypedef void (*cyconv_pool_route2_f32_t)(int, Py_ssize_t, const float*, Py_ssize_t,
                                              Py_ssize_t, Py_ssize_t, Py_ssize_t, const float*,
                                              float*, Py_ssize_t, Py_ssize_t) noexcept nogil
    ctypedef void (*cyconv_pool_route2_f64_t)(int, Py_ssize_t, const double*, Py_ssize_t,
                                              Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                              const double*, double*, Py_ssize_t,
                                              Py_ssize_t) noexcept nogil

    ctypedef struct IsaDesc "cyconv_isa_desc":
        int level
        int mr_f32, nr_f32, mr_f64, nr_f64
        cyconv_ukr_f32_t ukr_f32
        cyconv_ukr_f64_t ukr_f64
        cyconv_ukro_f32_t ukro_f32
        cyconv_ukro_f64_t ukro_f64
        int ob_f32, np_f32, ob_f64, np_f64
        cyconv_ukrb_f32_t ukrb_f32
        cyconv_ukrb_f64_t ukrb_f64
        int obn_f32, npn_f32, obn_f64, npn_f64
        int nps
        cyconv_ukrb_f32_t ukrs_f32
        cyconv_ukrb_f64_t ukrs_f64
        cyconv_ukrb_f32_t ukrn_f32
        cyconv_ukrb_f64_t ukrn_f64
        cyconv_unpack_f32_t unpack_tile_f32
        cyconv_unpack_f64_t unpack_tile_f64
        int dw_lanes_f32, dw_lanes_f64
        cyconv_dw_forward_f32_t dw_forward_f32
        cyconv_dw_forward_f64_t dw_forward_f64
        cyconv_dw_weight_f32_t dw_weight_f32
        cyconv_dw_weight_f64_t dw_weight_f64
        cyconv_dw_pad_f32_t dw_pad_f32
        cyconv_dw_pad_f64_t dw_pad_f64
        int rowpairs_mr
        cyconv_rowpairs_f32_t ukr_rowpairs_f32
        int pixrows_channels, pixrows_vectors, pixrows_lanes_f32, pixrows_lanes_f64
        cyconv_pixrows_f32_t ukr_pixrows_f32
        cyconv_pixrows_f64_t ukr_pixrows_f64
        cyconv_pool_vreduce_f32_t pool_vreduce_f32
        cyconv_pool_vreduce_f64_t pool_vreduce_f64
        cyconv_pool_hreduce_f32_t pool_hreduce_f32
        cyconv_pool_hreduce_f64_t pool_hreduce_f64
        cyconv_pool_shares_f32_t pool_shares_f32
        cyconv_pool_shares_f64_t pool_shares_f64
        cyconv_pool_spread_f32_t pool_spread_f32
        cyconv_pool_spread_f64_t pool_spread_f64
        cyconv_pool_route2_f32_t pool_route2_f32
        cyconv_pool_route2_f64_t pool_route2_f64

    # this module's pointer to the owner's descriptor (set by cyconv_isa_bind)
    const IsaDesc* ISA "cyconv_isa_cur"
    void cyconv_isa_bind(const IsaDesc* desc)


cdef const IsaDesc* isa_descriptor() noexcept nogil
