# What the Winograd kernel modules share (_winograd.pyx: the forward and the weight
# transform, _winograd_weight.pyx: the weight gradient): the transforms of _winograd.h and
# the inline helpers that call them per dtype on rows with strides. Compute only.
from cyconv._kernels._fused cimport floating


cdef extern from "_winograd.h" nogil:
    void cyconv_wino_input_f32(const float* x, Py_ssize_t x_image, Py_ssize_t x_row,
                               Py_ssize_t x_elem, Py_ssize_t x_channel, Py_ssize_t nch,
                               Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
                               Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                               Py_ssize_t tw, float* scratch, float* v, Py_ssize_t v_stride,
                               Py_ssize_t v_channel, Py_ssize_t v_tile)
    void cyconv_wino_input_f64(const double* x, Py_ssize_t x_image, Py_ssize_t x_row,
                               Py_ssize_t x_elem, Py_ssize_t x_channel, Py_ssize_t nch,
                               Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
                               Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                               Py_ssize_t tw, double* scratch, double* v, Py_ssize_t v_stride,
                               Py_ssize_t v_channel, Py_ssize_t v_tile)
    void cyconv_wino_output_f32(const float* m, Py_ssize_t m_stride, Py_ssize_t m_channel,
                                Py_ssize_t nco, const float* beta, float* scratch, float* y,
                                Py_ssize_t y_image, Py_ssize_t y_row, Py_ssize_t y_elem,
                                Py_ssize_t y_channel, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                                Py_ssize_t tw)
    void cyconv_wino_output_f64(const double* m, Py_ssize_t m_stride, Py_ssize_t m_channel,
                                Py_ssize_t nco, const double* beta, double* scratch, double* y,
                                Py_ssize_t y_image, Py_ssize_t y_row, Py_ssize_t y_elem,
                                Py_ssize_t y_channel, Py_ssize_t OH, Py_ssize_t OW,
                                Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                                Py_ssize_t tw)
    int CYCONV_WINO_CHANNELS
    Py_ssize_t cyconv_wino_input_scratch(Py_ssize_t rows, Py_ssize_t tw)
    Py_ssize_t cyconv_wino_output_scratch(Py_ssize_t rows, Py_ssize_t tw)
    void cyconv_wino_matrices(double* bt, double* at)
    void cyconv_wino_gradout_f32(const float* gy, Py_ssize_t gy_image, Py_ssize_t gy_channel,
                                 Py_ssize_t nco, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t row0,
                                 Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                                 float* scratch, float* q, Py_ssize_t q_stride, Py_ssize_t ob)
    void cyconv_wino_gradout_f64(const double* gy, Py_ssize_t gy_image, Py_ssize_t gy_channel,
                                 Py_ssize_t nco, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t row0,
                                 Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                                 double* scratch, double* q, Py_ssize_t q_stride,
                                 Py_ssize_t ob)
    Py_ssize_t cyconv_wino_gradout_scratch()
    void cyconv_wino_weight_grad_f32(const float* du, Py_ssize_t du_stride, const double* g,
                                     float* dw)
    void cyconv_wino_weight_grad_f64(const double* du, Py_ssize_t du_stride, const double* g,
                                     double* dw)
    void cyconv_wino_weight_grad_panel_f32(Py_ssize_t lanes, Py_ssize_t count, const float* du,
                                           Py_ssize_t e_stride, Py_ssize_t ci_stride,
                                           const double* g, float* dw, Py_ssize_t lane_stride)
    void cyconv_wino_weight_grad_panel_f64(Py_ssize_t lanes, Py_ssize_t count,
                                           const double* du, Py_ssize_t e_stride,
                                           Py_ssize_t ci_stride, const double* g, double* dw,
                                           Py_ssize_t lane_stride)
    void cyconv_wino_weights_f32(Py_ssize_t lanes, Py_ssize_t width, const float* w,
                                 Py_ssize_t lane_stride, Py_ssize_t row_stride,
                                 Py_ssize_t col_stride, const double* g, float* out,
                                 Py_ssize_t e_stride)
    void cyconv_wino_weights_f64(Py_ssize_t lanes, Py_ssize_t width, const double* w,
                                 Py_ssize_t lane_stride, Py_ssize_t row_stride,
                                 Py_ssize_t col_stride, const double* g, double* out,
                                 Py_ssize_t e_stride)
    void cyconv_wino_weight_panel_f32(Py_ssize_t lanes, Py_ssize_t width, Py_ssize_t count,
                                      const float* w, Py_ssize_t ci_stride,
                                      Py_ssize_t lane_stride, Py_ssize_t row_stride,
                                      Py_ssize_t col_stride, const double* g, float* out,
                                      Py_ssize_t e_stride)
    void cyconv_wino_weight_panel_f64(Py_ssize_t lanes, Py_ssize_t width, Py_ssize_t count,
                                      const double* w, Py_ssize_t ci_stride,
                                      Py_ssize_t lane_stride, Py_ssize_t row_stride,
                                      Py_ssize_t col_stride, const double* g, double* out,
                                      Py_ssize_t e_stride)
    int CYCONV_WINO_LANES


ctypedef struct Strides:
    # elements between images, channel planes, rows and a row's elements: NCHW or
    # channels-last memory
    Py_ssize_t image, channel, row, elem


cdef inline Strides _strides(Py_ssize_t C, Py_ssize_t H, Py_ssize_t W, bint channels_last) noexcept:
    cdef Strides s
    s.image = C * H * W
    if channels_last:
        s.channel, s.row, s.elem = 1, W * C, C
    else:
        s.channel, s.row, s.elem = H * W, W, 1
    return s


cdef inline Py_ssize_t _channel_block(const Strides* s) noexcept nogil:
    """Channels per transform call: a cache line of them where a pixel's channels are
    contiguous (channels-last), one plane at a time in NCHW."""
    return CYCONV_WINO_CHANNELS if s.channel == 1 else 1


cdef inline void _input(const floating* first, const Strides* xs, Py_ssize_t nch,
                        Py_ssize_t H, Py_ssize_t W, Py_ssize_t ph, Py_ssize_t pw,
                        Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                        floating* scratch, floating* v, Py_ssize_t v_stride,
                        Py_ssize_t v_channel, Py_ssize_t v_tile=1) noexcept nogil:
    if floating is float:
        cyconv_wino_input_f32(first, xs.image, xs.row, xs.elem, xs.channel, nch, H, W, ph, pw,
                              row0, rows, tiles_h, tw, scratch, v, v_stride, v_channel, v_tile)
    else:
        cyconv_wino_input_f64(first, xs.image, xs.row, xs.elem, xs.channel, nch, H, W, ph, pw,
                              row0, rows, tiles_h, tw, scratch, v, v_stride, v_channel, v_tile)


cdef inline void _gradout(const floating* gy, Py_ssize_t gy_image, Py_ssize_t gy_channel,
                          Py_ssize_t nco, Py_ssize_t OH, Py_ssize_t OW, Py_ssize_t row0,
                          Py_ssize_t rows, Py_ssize_t tiles_h, Py_ssize_t tw,
                          floating* scratch, floating* q, Py_ssize_t q_stride,
                          Py_ssize_t ob) noexcept nogil:
    if floating is float:
        cyconv_wino_gradout_f32(gy, gy_image, gy_channel, nco, OH, OW, row0, rows, tiles_h, tw,
                                scratch, q, q_stride, ob)
    else:
        cyconv_wino_gradout_f64(gy, gy_image, gy_channel, nco, OH, OW, row0, rows, tiles_h, tw,
                                scratch, q, q_stride, ob)


cdef inline void _output(const floating* m, Py_ssize_t m_stride, Py_ssize_t m_channel,
                         Py_ssize_t nco, const floating* beta, floating* scratch,
                         floating* first, const Strides* ys, Py_ssize_t OH, Py_ssize_t OW,
                         Py_ssize_t row0, Py_ssize_t rows, Py_ssize_t tiles_h,
                         Py_ssize_t tw) noexcept nogil:
    if floating is float:
        cyconv_wino_output_f32(m, m_stride, m_channel, nco, beta, scratch, first, ys.image,
                               ys.row, ys.elem, ys.channel, OH, OW, row0, rows, tiles_h, tw)
    else:
        cyconv_wino_output_f64(m, m_stride, m_channel, nco, beta, scratch, first, ys.image,
                               ys.row, ys.elem, ys.channel, OH, OW, row0, rows, tiles_h, tw)
