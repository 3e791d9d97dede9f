"""The stride-1 weight gradient on the padded grid, without lowering: the row tile's direct
micro-kernel with the roles turned (output channels on the lanes from grad_output laid on
the grid, NP input channels broadcast, the reduction over grid positions), partial tiles
added into double accumulators in a fixed order. Compute only: the Python layer
(``cyconv/_conv_backward.py``) packs grad_output onto the grid, pads the input where it has
padding, and picks the blocking.
"""
from cython.parallel cimport prange
from libc.string cimport memset

from cyconv._kernels._core cimport _ukrb, _ukrn
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num

# this module's view of the ISA in use (_isa.pxd)
cyconv_isa_bind(isa_descriptor())


cdef inline Py_ssize_t _channel_block_start(Py_ssize_t block, Py_ssize_t NP,
                                            Py_ssize_t cig) noexcept nogil:
    """First input channel of the weight gradient's channel block ``block``: the last block
    of a group ends at its last channel (overlapping the one before: its channels come out
    with the same bits in either), so no block reads a plane past its group's."""
    if block * NP + NP <= cig or cig < NP:
        return block * NP
    return cig - NP


cdef inline void _add_into_double(const floating* ctiles, Py_ssize_t lanes,
                                  double* accs) noexcept nogil:
    cdef Py_ssize_t lane
    for lane in range(lanes):
        accs[lane] += ctiles[lane]


cdef void _padded_weight_item(const floating* x_first, Py_ssize_t image_stride,
                              const floating* gy_first, Py_ssize_t gy_image, Py_ssize_t N,
                              Py_ssize_t Q, Py_ssize_t runs, Py_ssize_t run_stride,
                              Py_ssize_t run_length, Py_ssize_t plane, const Py_ssize_t* shifts,
                              Py_ssize_t taps, Py_ssize_t first_block, Py_ssize_t cig,
                              Py_ssize_t blocks, Py_ssize_t panels,
                              const Py_ssize_t* ident, Py_ssize_t OB, Py_ssize_t NP,
                              Py_ssize_t KC, Py_ssize_t partial_positions, bint narrow,
                              floating* ctiles, double* accs) noexcept nogil:
    """grad_w for ``blocks`` blocks of NP input channels (from block ``first_block`` of a
    group of ``cig``, whose first plane ``x_first`` is) x ``panels`` panels of OB output
    channels at ``taps`` taps (stride 1).

    The direct micro-kernel runs with the roles turned: output channels along the lanes come
    from grad_y packed [position][channel] on the padded grid (zeros off the outputs), the NP
    broadcast values are the same tap of NP consecutive input channels (one plane apart), and
    the reduction runs over the grid positions. Each KC-position chunk of grad_y is used by
    every tap of every channel block of the item while it is in L1 (grad_y streamed once
    per item, not once per tap or per channel block: the weight gradient was memory-bound
    on 1-D/3-D rows), and each chunk of a channel block's input by every panel while it is
    in L1 (the input streamed once per item, not once per panel). The float tiles are
    added into double accumulators after as many whole images as fit in
    ``partial_positions`` positions (at least one), and within an image longer than that
    after the chunk that reaches it, so no float partial sums many more terms than
    ``partial_positions`` (an image of 10^6 positions summed in float was 19x the accuracy
    contract's bound on data of one sign) while small images do not pay for a flush each;
    each weight is reduced over (image, chunk) in the same order whatever the blocking.
    The reduction runs over ``runs`` runs of positions, ``run_stride`` apart, each
    ``run_length`` long (the last ending at Q): the planes' output rows, not the rows of
    zeros between them (3-D). Tile (panel i, block b, tap t) is at ((i * blocks + b) * taps
    + t) * NP * OB; the panels' grad_y are Q * OB apart.
    """
    cdef Py_ssize_t n, q0, q_end, run, kc, t, b, i, tile = NP * OB
    cdef Py_ssize_t lanes = panels * blocks * taps * tile
    cdef Py_ssize_t images_per_partial = partial_positions // Q if partial_positions > Q else 1
    cdef Py_ssize_t pending
    cdef const floating* gy_chunk
    cdef const floating* x_chunk
    cdef floating* ctile
    memset(accs, 0, lanes * sizeof(double))
    for n in range(N):
        if n % images_per_partial == 0:
            memset(ctiles, 0, lanes * sizeof(floating))
        pending = 0
        for run in range(runs):
            q0 = run * run_stride
            q_end = q0 + run_length if Q - q0 > run_length else Q
            while q0 < q_end:
                kc = KC if q_end - q0 > KC else q_end - q0
                for b in range(blocks):
                    x_chunk = (x_first + _channel_block_start(first_block + b, NP, cig) * plane
                               + n * image_stride + q0)
                    for t in range(taps):
                        for i in range(panels):
                            gy_chunk = gy_first + n * gy_image + (i * Q + q0) * OB
                            ctile = ctiles + ((i * blocks + b) * taps + t) * tile
                            if narrow:
                                _ukrn(kc, gy_chunk, x_chunk + shifts[t], ident, plane, ctile,
                                      OB)
                            else:
                                _ukrb(kc, gy_chunk, x_chunk + shifts[t], ident, plane, ctile,
                                      OB)
                q0 = q0 + KC
                pending = pending + kc
                if images_per_partial == 1 and pending >= partial_positions:
                    _add_into_double(ctiles, lanes, accs)
                    memset(ctiles, 0, lanes * sizeof(floating))
                    pending = 0
        if (n + 1) % images_per_partial == 0 or n == N - 1:
            _add_into_double(ctiles, lanes, accs)


def padded_weight_grad(const floating[::1] x_padded, Py_ssize_t image_stride,
                       const floating[::1] gy_grid, Py_ssize_t Q, tuple runs,
                       const Py_ssize_t[::1] shifts,
                       const Py_ssize_t[::1] ident, floating[:, :, ::1] grad_w,
                       Py_ssize_t groups, Py_ssize_t batch, Py_ssize_t plane,
                       Py_ssize_t tap_block, Py_ssize_t channel_blocks, Py_ssize_t panel_block,
                       floating[:, ::1] tiles, double[:, ::1] accs,
                       Py_ssize_t KC, Py_ssize_t partial_positions, bint narrow,
                       int num_threads):
    """grad_w (C_out, C_in/groups, T) for a stride-1 convolution, without lowering.

    x_padded : the input on the padded grid, planes ``plane`` apart, images
        ``image_stride`` apart (with no padding, the input itself): a channel's reads reach
        Q + the last shift positions into its plane, and with fewer than NP channels per
        group NP - C_in/groups planes past the last channel (checked).
    gy_grid : grad_y on the padded grid, (N, groups, ceil(C_out_g/OB), Q, OB), zeros off the
        output positions and past C_out_g.
    runs : (count, stride, length) of the runs of positions the reduction covers (those
        with an output: each output plane's rows; positions past them hold zeros).
    shifts : (T,) flat offset of each tap on the grid; ident : arange(KC).
    tap_block, channel_blocks, panel_block : taps, blocks of NP input channels and panels of
        OB output channels per work item (any values give the same bits; they only set the
        parallelism, the traffic and the scratch size).
    tiles, accs : (num_threads, panel_block*channel_blocks*tap_block*NP*OB) scratch
        (working precision and double).
    partial_positions : positions summed in working precision before an addition into the
        double accumulators: whole images up to it (at least one), chunks of longer ones
        (>= 1).
    narrow : use the narrow direct micro-kernel (its OB x NP tile; see direct_tile_shape).
    Work items are (group, panel_block panels of OB output channels, channel_blocks blocks
    of NP input channels, block of taps); each weight is reduced by one item in a fixed
    order, so any thread count gives the same bits.
    """
    cdef Py_ssize_t CO = grad_w.shape[0], cig = grad_w.shape[1], T = grad_w.shape[2]
    cdef Py_ssize_t cog = CO // groups
    cdef Py_ssize_t OB, NP, npan, ncb, ncg, npg, ntb, items, taps, nb, npi, scratch, need
    cdef Py_ssize_t item, gi, tb, cb, cg, pg, b, i, pan, tid, p, o, ci, co, t, first
    cdef const floating* xp = &x_padded[0]
    cdef const floating* gp = &gy_grid[0]
    cdef const Py_ssize_t* sp = &shifts[0]
    cdef const Py_ssize_t* ip = &ident[0]
    cdef double* acc
    cdef Py_ssize_t run_count = runs[0], run_stride = runs[1], run_length = runs[2]
    if partial_positions < 1:
        raise ValueError(f"padded_weight_grad: partial_positions must be >= 1, got "
                         f"{partial_positions}")
    if run_count < 1 or run_length < 1 or (run_count > 1 and run_stride < run_length):
        raise ValueError(f"padded_weight_grad: runs {runs} must be >= 1 positions, apart "
                         f"at least their length")
    if floating is float:
        OB = ISA.obn_f32 if narrow else ISA.ob_f32
        NP = ISA.npn_f32 if narrow else ISA.np_f32
    else:
        OB = ISA.obn_f64 if narrow else ISA.ob_f64
        NP = ISA.npn_f64 if narrow else ISA.np_f64
    npan = (cog + OB - 1) // OB
    ncb = (cig + NP - 1) // NP
    if tap_block < 1 or channel_blocks < 1 or panel_block < 1:
        raise ValueError(f"padded_weight_grad: tap_block {tap_block}, channel_blocks "
                         f"{channel_blocks} and panel_block {panel_block} must be >= 1")
    ncg = (ncb + channel_blocks - 1) // channel_blocks
    npg = (npan + panel_block - 1) // panel_block
    ntb = (T + tap_block - 1) // tap_block
    items = groups * npg * ncg * ntb
    scratch = panel_block * channel_blocks * tap_block * NP * OB
    need = ((batch - 1) * image_stride + (groups * cig + max(NP - cig, 0) - 1) * plane + Q
            + max(shifts[T - 1], 0)) if batch > 0 and cig > 0 and T > 0 else 0
    if x_padded.shape[0] < need:
        raise ValueError(f"padded_weight_grad: x_padded holds {x_padded.shape[0]} elements, "
                         f"the reads reach {need}")
    if tiles.shape[1] < scratch or accs.shape[1] < scratch:
        raise ValueError(f"padded_weight_grad: scratch rows ({tiles.shape[1]}, "
                         f"{accs.shape[1]}) shorter than {panel_block} x {channel_blocks} x "
                         f"{tap_block} tiles of {NP} x {OB}")
    with nogil:
        for item in prange(items, schedule="static", num_threads=num_threads):
            tid = omp_get_thread_num()
            gi = item // (npg * ncg * ntb)
            pg = (item // (ncg * ntb)) % npg
            cg = (item // ntb) % ncg
            tb = item % ntb
            taps = tap_block if T - tb * tap_block > tap_block else T - tb * tap_block
            nb = channel_blocks if ncb - cg * channel_blocks > channel_blocks \
                else ncb - cg * channel_blocks
            npi = panel_block if npan - pg * panel_block > panel_block \
                else npan - pg * panel_block
            _padded_weight_item(xp + gi * cig * plane,
                                image_stride, gp + ((gi * npan + pg * panel_block) * Q) * OB,
                                groups * npan * Q * OB, batch, Q, run_count, run_stride,
                                run_length, plane,
                                sp + tb * tap_block, taps, cg * channel_blocks, cig, nb, npi,
                                ip, OB, NP, KC,
                                partial_positions, narrow, &tiles[tid, 0], &accs[tid, 0])
            for i in range(npi):
                pan = pg * panel_block + i
                for b in range(nb):
                    cb = cg * channel_blocks + b
                    first = _channel_block_start(cb, NP, cig)
                    for t in range(taps):
                        acc = &accs[tid, ((i * nb + b) * taps + t) * NP * OB]
                        for p in range(NP):
                            ci = first + p
                            if ci >= cig:
                                break
                            if ci < cb * NP:  # the block before's (overlapped) channel
                                continue
                            for o in range(OB):
                                co = pan * OB + o
                                if co >= cog:
                                    break
                                grad_w[gi * cog + co, ci, tb * tap_block + t] = \
                                    <floating>acc[p * OB + o]
