"""Recurrent kernels (RNN, LSTM, GRU): the packed GEMM of the input projection and the weight
gradients, and the time loops of the forward pass and of backpropagation through time.

Every GEMM runs on the register-tiled micro-kernel of the ISA table (_gemm.h through
_core.pxd's shim): C += A B over packed panels of A (MR rows, per thread) and B (NR
columns), in K chunks of KC, one work item per tile of C, so each element's sum runs in the
same order whatever the thread count. A time step is one parallel loop over (hidden block,
batch row block) tiles: the hidden GEMM of the tile (h_{t-1} against the packed W_hh, the
gates of a block of hb hidden units in G*hb/NR register tiles) followed, while the tile is in L1,
by the gate nonlinearities and the state update (_recurrent.h). The backward step is the
same with dG_{t+1} W_hh and the gate gradients. (hb is a multiple of NR / G chosen by the
Python layer so that a gate's run of units fills whole vectors: a block's gates then span
G*hb / NR register tiles.) Compute only: the Python layer
(cyconv/recurrent.py) validates, packs the weights and allocates.
"""
from cython.parallel cimport prange
from libc.string cimport memcpy, memset

from cyconv._kernels._core cimport _ukr
from cyconv._kernels._fused cimport floating
from cyconv._kernels._isa cimport ISA, cyconv_isa_bind, isa_descriptor
from cyconv._kernels._omp cimport omp_get_thread_num

cyconv_isa_bind(isa_descriptor())

cdef extern from "_recurrent.h" nogil:
    void cyconv_rnn_gemv_f32(Py_ssize_t, const float*, Py_ssize_t, const float*, float*,
                             Py_ssize_t)
    void cyconv_rnn_gemv_f64(Py_ssize_t, const double*, Py_ssize_t, const double*, double*,
                             Py_ssize_t)
    void cyconv_rnn_prefetch(const void*, Py_ssize_t, Py_ssize_t, Py_ssize_t)
    void cyconv_rnn_fwd_tile_f32(int, Py_ssize_t, Py_ssize_t, Py_ssize_t, float*, Py_ssize_t,
                                 const float*, Py_ssize_t, const Py_ssize_t*, Py_ssize_t,
                                 const float*, const float*, float*, float*, Py_ssize_t,
                                 float*, Py_ssize_t, float*, float*, Py_ssize_t, float*,
                                 Py_ssize_t)
    void cyconv_rnn_fwd_tile_f64(int, Py_ssize_t, Py_ssize_t, Py_ssize_t, double*, Py_ssize_t,
                                 const double*, Py_ssize_t, const Py_ssize_t*, Py_ssize_t,
                                 const double*, const double*, double*, double*, Py_ssize_t,
                                 double*, Py_ssize_t, double*, double*, Py_ssize_t, double*,
                                 Py_ssize_t)
    void cyconv_rnn_bwd_tile_f32(int, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                 Py_ssize_t, const float*, Py_ssize_t, const Py_ssize_t*,
                                 Py_ssize_t, const float*, Py_ssize_t, float*, float*,
                                 Py_ssize_t, const float*, Py_ssize_t, const float*,
                                 const float*, const float*, float*, float*, Py_ssize_t,
                                 Py_ssize_t, Py_ssize_t, float*, Py_ssize_t)
    void cyconv_rnn_bwd_tile_f64(int, Py_ssize_t, Py_ssize_t, Py_ssize_t, Py_ssize_t,
                                 Py_ssize_t, const double*, Py_ssize_t, const Py_ssize_t*,
                                 Py_ssize_t, const double*, Py_ssize_t, double*, double*,
                                 Py_ssize_t, const double*, Py_ssize_t, const double*,
                                 const double*, const double*, double*, double*, Py_ssize_t,
                                 Py_ssize_t, Py_ssize_t, double*, Py_ssize_t)

# K chunk of the packed GEMM: a B panel of KC x NR stays in L1/L2 while a thread's A panels
# stream through it
cdef enum:
    _KC = 256
KC = _KC
# the modes, as _recurrent.h numbers them
MODES = {"rnn_tanh": 0, "rnn_relu": 1, "lstm": 2, "gru": 3}
cdef int LSTM = 2


def tile_shape(bint double):
    """(MR, NR) of the GEMM micro-kernel of the ISA in use, for float32 or float64."""
    return (ISA.mr_f64, ISA.nr_f64) if double else (ISA.mr_f32, ISA.nr_f32)


cdef inline Py_ssize_t _mr(floating* dummy) noexcept nogil:
    return ISA.mr_f32 if floating is float else ISA.mr_f64


cdef inline Py_ssize_t _nr(floating* dummy) noexcept nogil:
    return ISA.nr_f32 if floating is float else ISA.nr_f64


cdef inline void _step_gemm(Py_ssize_t rows, Py_ssize_t K, const floating* A, const floating* B,
                            floating* C, Py_ssize_t ldc) noexcept nogil:
    """C[rows x NR] += A B for one tile of a time step: A the (K x MR) panel of the step's
    rows, B a (K x NR) panel. Below half the micro-kernel's rows, one row at a time
    (cyconv_rnn_gemv); otherwise the micro-kernel (its zero rows included)."""
    cdef Py_ssize_t mr = _mr(C), nr = _nr(C), i
    if 2 * rows > mr:
        _ukr(K, A, B, C, ldc)
        return
    for i in range(rows):
        if floating is float:
            cyconv_rnn_gemv_f32(K, A + i, mr, B, C + i * ldc, nr)
        else:
            cyconv_rnn_gemv_f64(K, A + i, mr, B, C + i * ldc, nr)


cdef void _gemm(Py_ssize_t M, Py_ssize_t N, Py_ssize_t K, const floating* A, Py_ssize_t ars,
                Py_ssize_t acs, const floating* B, Py_ssize_t brs, Py_ssize_t bcs,
                floating* C, Py_ssize_t ldc, const floating* c_init, floating* bpack,
                floating* scratch, Py_ssize_t scratch_row, int n_threads) noexcept nogil:
    """C[M x N] += A B with A[i, k] = A[i*ars + k*acs], B[k, j] = B[k*brs + j*bcs]; with
    ``c_init`` (a row of N, or NULL) C = c_init + A B instead, each tile's rows set just
    before its first micro-kernel call (no separate pass over C).

    bpack: KC * ceil(N/NR) * NR elements; scratch: one row of ``scratch_row`` >= KC*MR +
    MR*NR elements per thread (the A panel and an edge tile)."""
    cdef Py_ssize_t mr = _mr(C), nr = _nr(C)
    cdef Py_ssize_t ncb = (N + nr - 1) // nr, nrb = (M + mr - 1) // mr
    cdef Py_ssize_t k0, kc, cb, rb, k, i, j, rows, cols, row
    cdef floating* ap
    cdef floating* tile
    cdef floating* bp
    k0 = 0
    while k0 < K:
        kc = K - k0 if K - k0 < _KC else _KC
        for cb in prange(ncb, schedule="static", num_threads=n_threads):
            bp = bpack + cb * kc * nr
            cols = N - cb * nr if N - cb * nr < nr else nr
            if cols < nr:
                memset(bp, 0, kc * nr * sizeof(floating))
            if bcs == 1:  # rows of B contiguous: read them along
                for k in range(kc):
                    for j in range(cols):
                        bp[k * nr + j] = B[(k0 + k) * brs + cb * nr + j]
            else:
                for j in range(cols):
                    for k in range(kc):
                        bp[k * nr + j] = B[(k0 + k) * brs + (cb * nr + j) * bcs]
        for rb in prange(nrb, schedule="static", num_threads=n_threads):
            ap = scratch + omp_get_thread_num() * scratch_row
            tile = ap + _KC * mr
            rows = M - rb * mr if M - rb * mr < mr else mr
            if rows < mr:
                memset(ap, 0, kc * mr * sizeof(floating))
            if ars == 1:  # columns of A contiguous (a transposed operand): read them along
                for k in range(kc):
                    for i in range(rows):
                        ap[k * mr + i] = A[rb * mr + i + (k0 + k) * acs]
            else:
                for i in range(rows):
                    row = rb * mr + i
                    for k in range(kc):
                        ap[k * mr + i] = A[row * ars + (k0 + k) * acs]
            for cb in range(ncb):
                cols = N - cb * nr if N - cb * nr < nr else nr
                bp = bpack + cb * kc * nr
                if k0 == 0 and c_init != NULL:
                    for i in range(rows):
                        memcpy(C + (rb * mr + i) * ldc + cb * nr, c_init + cb * nr,
                               cols * sizeof(floating))
                if rows == mr and cols == nr:
                    _ukr(kc, ap, bp, C + rb * mr * ldc + cb * nr, ldc)
                else:
                    memset(tile, 0, mr * nr * sizeof(floating))
                    _ukr(kc, ap, bp, tile, nr)
                    for i in range(rows):
                        for j in range(cols):
                            C[(rb * mr + i) * ldc + cb * nr + j] += tile[i * nr + j]
        k0 = k0 + kc


def gemm(const floating[::1] a, Py_ssize_t ars, Py_ssize_t acs, const floating[::1] b,
         Py_ssize_t brs, Py_ssize_t bcs, floating[:, ::1] c, Py_ssize_t K, bint init,
         const floating[::1] c_init, floating[::1] bpack, floating[:, ::1] scratch,
         int n_threads):
    """c += A B, or with ``init`` c = c_init (a row) + A B (see ``_gemm``); A and B are
    strided views of the flat ``a`` and ``b``."""
    with nogil:
        _gemm(c.shape[0], c.shape[1], K, &a[0], ars, acs, &b[0], brs, bcs, &c[0, 0],
              c.shape[1], &c_init[0] if init else NULL, &bpack[0], &scratch[0, 0],
              scratch.shape[1], n_threads)


def column_sums(const floating[::1] a, Py_ssize_t rows, Py_ssize_t pw, Py_ssize_t ps,
                double[::1] out, int n_threads):
    """out[c] = the sum over ``rows`` rows of column c of a gate array stored in panels of
    ``pw`` columns, ``ps`` elements apart (pw = columns, ps = 0: plain row-major),
    accumulated in double, rows in order (a fixed order: the same bits for any thread
    count); threads split the columns."""
    cdef Py_ssize_t cols = out.shape[0], chunk = 64
    cdef Py_ssize_t nsub = (pw + chunk - 1) // chunk, npanels = (cols + pw - 1) // pw
    cdef Py_ssize_t item, panel, r, j, j0, j1, base
    with nogil:
        # work items: runs of up to 64 columns inside one panel (contiguous in each row)
        for item in prange(npanels * nsub, schedule="static", num_threads=n_threads):
            panel = item // nsub
            j0 = panel * pw + (item % nsub) * chunk
            j1 = j0 + chunk
            if j1 > panel * pw + pw:
                j1 = panel * pw + pw
            if j1 > cols:
                j1 = cols
            base = panel * ps + j0 - panel * pw
            for j in range(j0, j1):
                out[j] = 0
            for r in range(rows):
                for j in range(j0, j1):
                    out[j] += a[base + r * pw + j - j0]


def gemm_packed_b(const floating[::1] a1, Py_ssize_t ars1, Py_ssize_t acs1,
                  floating[:, ::1] c1, const floating[::1] a2, Py_ssize_t ars2,
                  Py_ssize_t acs2, floating[:, ::1] c2, const floating[::1] bp, Py_ssize_t K,
                  floating[:, ::1] scratch, int n_threads):
    """c1 += A1 B and c2 += A2 B (A strided views of the flat a1, a2) with B (K x N, N the
    columns of c1 and c2, a multiple of NR) already in the micro-kernel's panels: column j
    of row k at bp[(j // NR) * K * NR + k * NR + j % NR] - the layout the backward time loop
    writes the gate gradients in. One parallel loop per K chunk over the row blocks of both
    products (the weight gradients of W_ih and W_hh share their B)."""
    cdef Py_ssize_t mr = _mr(&scratch[0, 0]), nr = _nr(&scratch[0, 0])
    cdef Py_ssize_t N = c1.shape[1], ncb = N // nr
    cdef Py_ssize_t nrb1 = (c1.shape[0] + mr - 1) // mr, nrb2 = (c2.shape[0] + mr - 1) // mr
    cdef Py_ssize_t k0 = 0, kc, rb, cb, i, j, k, rows, M, ars, acs, row
    cdef const floating* A
    cdef floating* C
    cdef floating* ap
    cdef floating* tile
    if N == 0 or K == 0:
        return
    with nogil:
        while k0 < K:
            kc = K - k0 if K - k0 < _KC else _KC
            for rb in prange(nrb1 + nrb2, schedule="static", num_threads=n_threads):
                if rb < nrb1:
                    A, ars, acs, C, M, row = &a1[0], ars1, acs1, &c1[0, 0], c1.shape[0], rb
                else:
                    A, ars, acs, C, M, row = &a2[0], ars2, acs2, &c2[0, 0], c2.shape[0], rb - nrb1
                ap = &scratch[omp_get_thread_num(), 0]
                tile = ap + _KC * mr
                rows = M - row * mr if M - row * mr < mr else mr
                if rows < mr:
                    memset(ap, 0, kc * mr * sizeof(floating))
                if ars == 1:
                    for k in range(kc):
                        for i in range(rows):
                            ap[k * mr + i] = A[row * mr + i + (k0 + k) * acs]
                else:
                    for i in range(rows):
                        for k in range(kc):
                            ap[k * mr + i] = A[(row * mr + i) * ars + (k0 + k) * acs]
                for cb in range(ncb):
                    if rows == mr:
                        _ukr(kc, ap, &bp[(cb * K + k0) * nr], C + row * mr * N + cb * nr, N)
                    else:
                        memset(tile, 0, mr * nr * sizeof(floating))
                        _ukr(kc, ap, &bp[(cb * K + k0) * nr], tile, nr)
                        for i in range(rows):
                            for j in range(nr):
                                C[(row * mr + i) * N + cb * nr + j] += tile[i * nr + j]
            k0 = k0 + kc


def forward_steps(int mode, bint reverse, Py_ssize_t hb, floating[:, ::1] xproj,
                  const floating[:, :, ::1] whh_panels, const floating[::1] bhh,
                  const Py_ssize_t[::1] lengths, floating[:, :, ::1] hs, floating[:, :, ::1] cs,
                  floating[:, :, ::1] acts, floating[:, :, ::1] aux, floating[:, :, ::1] y,
                  floating[::1] hpack, floating[:, ::1] tiles, bint keep, int n_threads):
    """The time loop of one layer and direction.

    hb: hidden units per block (a block's G gates are W = G*hb columns, W/NR micro-kernel
    tiles); xproj (T*N, Gc): x W_ih^T + b_ih in packed gate columns; whh_panels (Gc/NR, H,
    NR): the packed W_hh^T; bhh (Gc); hs, cs (T+1, N, H): the states, hs[0] (hs[T] when reverse)
    holding h0 on entry (cs only for LSTM, else (1, 1, 1)); acts (T, N, Gc) and aux
    (T, N, H) are saved for the backward; y (T, N, H) the output; hpack 2 panels of
    ceil(N/MR)*MR x H holding h0 on entry (first half); tiles (threads, >= MR*W). ``acts``
    may be ``xproj`` itself (each tile row reads its projection before storing its gates).
    Without ``keep`` (inference: nothing saved for a backward) hs and cs are rings of two
    (2, N, H), h0 in slot 0 and the final state in slot T % 2, and the gates and tanh(c)
    go to each thread's tile scratch (tiles >= 2*MR*W + MR*H) instead of acts and aux.
    """
    cdef Py_ssize_t T = y.shape[0], N = y.shape[1], H = y.shape[2]
    cdef Py_ssize_t gc = xproj.shape[1]
    cdef Py_ssize_t mr = _mr(&hpack[0]), nr = _nr(&hpack[0])
    cdef Py_ssize_t G = 4 if mode == 2 else (3 if mode == 3 else 1)
    cdef Py_ssize_t bw = G * hb, tpb = bw // nr
    cdef Py_ssize_t nblk = whh_panels.shape[0] // tpb, nrb = (N + mr - 1) // mr
    cdef Py_ssize_t panel = H * mr, items = nblk * nrb
    cdef Py_ssize_t s, t, prev, nxt, cur, item, blk, rb, i, j, q, rows, u0, units, row0
    cdef floating* tile
    cdef floating* cp
    cdef floating* cn
    cdef floating* ax
    cdef floating* ac
    cdef Py_ssize_t lda = gc if keep else bw
    cdef bint lstm = mode == LSTM, has_aux = mode >= LSTM
    if T == 0 or N == 0:
        return
    with nogil:
        for s in range(T):
            t = T - 1 - s if reverse else s
            if keep:
                prev = t + 1 if reverse else t
                nxt = t if reverse else t + 1
            else:
                prev = s % 2
                nxt = (s + 1) % 2
            cur = s % 2
            for item in prange(items, schedule="static", num_threads=n_threads):
                blk = item // nrb
                rb = item % nrb
                tile = &tiles[omp_get_thread_num(), 0]
                row0 = rb * mr
                rows = N - row0 if N - row0 < mr else mr
                u0 = blk * hb
                units = H - u0 if H - u0 < hb else hb
                cyconv_rnn_prefetch(&xproj[t * N + row0, blk * bw], rows, gc * sizeof(floating),
                                    bw * sizeof(floating))
                if lstm:
                    cyconv_rnn_prefetch(&cs[prev, row0, u0], rows, H * sizeof(floating),
                                        units * sizeof(floating))
                # (loops, not memcpy/memset: a libc call per tile row cost more than the copy)
                for i in range(mr):
                    for j in range(bw):
                        tile[i * bw + j] = bhh[blk * bw + j]
                for q in range(tpb):
                    _step_gemm(rows, H, &hpack[(cur * nrb + rb) * panel],
                               &whh_panels[blk * tpb + q, 0, 0], tile + q * nr, bw)
                cp = &cs[prev, row0, u0] if lstm else NULL
                cn = &cs[nxt, row0, u0] if lstm else NULL
                if keep:
                    ax = &aux[t, row0, u0] if has_aux else NULL
                    ac = &acts[t, row0, blk * bw]
                else:
                    ax = tile + 2 * mr * bw + u0 if has_aux else NULL
                    ac = tile + mr * bw
                if floating is float:
                    cyconv_rnn_fwd_tile_f32(
                        mode, rows, units, hb, tile, bw, &xproj[t * N + row0, blk * bw], gc,
                        &lengths[row0], t, &hs[prev, row0, u0], cp, &hs[nxt, row0, u0], cn, H,
                        ac, lda, ax, &y[t, row0, u0], H,
                        &hpack[((1 - cur) * nrb + rb) * panel + u0 * mr], mr)
                else:
                    cyconv_rnn_fwd_tile_f64(
                        mode, rows, units, hb, tile, bw, &xproj[t * N + row0, blk * bw], gc,
                        &lengths[row0], t, &hs[prev, row0, u0], cp, &hs[nxt, row0, u0], cn, H,
                        ac, lda, ax, &y[t, row0, u0], H,
                        &hpack[((1 - cur) * nrb + rb) * panel + u0 * mr], mr)


def backward_steps(int mode, bint reverse, Py_ssize_t hb, const floating[:, :, ::1] dy,
                   const floating[:, :, ::1] whhT_panels, const Py_ssize_t[::1] lengths,
                   const floating[:, :, ::1] hs, const floating[:, :, ::1] cs,
                   const floating[:, :, ::1] acts, const floating[:, :, ::1] aux,
                   floating[::1] dgx, floating[::1] dgh, bint separate_dgh,
                   Py_ssize_t pw, Py_ssize_t ps,
                   floating[:, ::1] carry, floating[:, ::1] dc, floating[::1] dpack,
                   const floating[:, :, ::1] wihT_panels, floating[:, :, ::1] dx,
                   floating[:, ::1] tiles, int n_threads):
    """Backpropagation through time of one ``forward_steps`` call.

    dy (T, N, H); whhT_panels (ceil(H/NR), Gc, NR): W_hh in packed gate rows; hs, cs, acts,
    aux: the forward's; dgx, dgh (T*N rows of Gc, flat, in panels of pw columns ps elements
    apart: pw = Gc, ps = 0 row-major, pw = NR, ps = T*N*NR the GEMM's B panels), zero in
    their padding columns: the gate gradients (dgh only written when ``separate_dgh``,
    GRU); carry, dc (N, H): the final states' gradients on entry, the initial states' on
    return; dpack 2 zero panels of ceil(N/MR)*MR x Gc;
    wihT_panels (ceil(I/NR), Gc, NR): W_ih in packed gate rows; dx (T, N, I): the input
    gradient, dG_x W_ih, each step's computed from the packed panel of its gate gradients
    (dpack, already packed for the recurrence) by extra tiles of the next step's loop.
    """
    cdef Py_ssize_t T = dy.shape[0], N = dy.shape[1], H = dy.shape[2], n_in = dx.shape[2]
    cdef Py_ssize_t gc = acts.shape[2]
    cdef Py_ssize_t mr = _mr(&dpack[0]), nr = _nr(&dpack[0])
    cdef Py_ssize_t ncb = whhT_panels.shape[0], nrb = (N + mr - 1) // mr
    cdef Py_ssize_t ncbx = wihT_panels.shape[0]
    cdef Py_ssize_t G = 4 if mode == 2 else (3 if mode == 3 else 1)
    cdef Py_ssize_t bw = G * hb, panel = gc * mr, items = (ncb + ncbx) * nrb
    cdef Py_ssize_t s, t, prev, item, cb, rb, i, j, rows, u0, units, row0, src, tx
    cdef floating* tile
    cdef const floating* cp
    cdef const floating* ax
    cdef floating* dcp
    cdef floating* ghp
    cdef bint lstm = mode == LSTM, has_aux = mode >= LSTM
    if T == 0 or N == 0:
        return
    with nogil:
        for s in range(T - 1, -2, -1):
            t = T - 1 - s if reverse else s
            prev = t + 1 if reverse else t
            src = (s + 1) % 2
            # round robin: the dh tiles (gate math after their GEMM) and the dx tiles (GEMM
            # only) alternate, so both threads get a share of each (contiguous halves left
            # one thread most of the gate math: 22.8 -> 21.3 ms per LSTM backward loop)
            for item in prange(items, schedule="static", chunksize=1, num_threads=n_threads):
                cb = item // nrb
                rb = item % nrb
                tile = &tiles[omp_get_thread_num(), 0]
                row0 = rb * mr
                rows = N - row0 if N - row0 < mr else mr
                if cb >= ncb:
                    # dx of the step after s (whose gate gradients dpack holds)
                    if s + 1 >= T:
                        continue
                    tx = s + 1
                    tx = T - 1 - tx if reverse else tx
                    u0 = (cb - ncb) * nr
                    units = n_in - u0 if n_in - u0 < nr else nr
                    for j in range(mr * nr):
                        tile[j] = 0
                    _step_gemm(rows, gc, &dpack[(src * nrb + rb) * panel],
                               &wihT_panels[cb - ncb, 0, 0], tile, nr)
                    for i in range(rows):
                        for j in range(units):
                            dx[tx, row0 + i, u0 + j] = tile[i * nr + j]
                    continue
                u0 = cb * nr
                units = H - u0 if H - u0 < nr else nr
                if s >= 0:
                    # this step's saved gates (the columns of units u0.. are one run of
                    # blocks), output gradient and states
                    cyconv_rnn_prefetch(&acts[t, row0, (u0 // hb) * bw], rows,
                                        gc * sizeof(floating),
                                        ((units + hb - 1) // hb + 1) * bw * sizeof(floating)
                                        if (u0 // hb + (units + hb - 1) // hb + 1) * bw <= gc
                                        else (gc - (u0 // hb) * bw) * sizeof(floating))
                    cyconv_rnn_prefetch(&dy[t, row0, u0], rows, H * sizeof(floating),
                                        units * sizeof(floating))
                    cyconv_rnn_prefetch(&hs[prev, row0, u0], rows, H * sizeof(floating),
                                        units * sizeof(floating))
                    if has_aux:
                        cyconv_rnn_prefetch(&aux[t, row0, u0], rows, H * sizeof(floating),
                                            units * sizeof(floating))
                for j in range(mr * nr):
                    tile[j] = 0
                if s + 1 < T:
                    _step_gemm(rows, gc, &dpack[(src * nrb + rb) * panel],
                               &whhT_panels[cb, 0, 0], tile, nr)
                if s < 0:
                    for i in range(rows):
                        for j in range(units):
                            carry[row0 + i, u0 + j] += tile[i * nr + j]
                    continue
                cp = &cs[prev, row0, u0] if lstm else NULL
                dcp = &dc[row0, u0] if lstm else NULL
                ax = &aux[t, row0, u0] if has_aux else NULL
                ghp = &dgh[0] if separate_dgh else NULL
                if floating is float:
                    cyconv_rnn_bwd_tile_f32(
                        mode, rows, u0, units, hb, bw, tile, nr, &lengths[row0], t,
                        &dy[t, row0, u0], H, &carry[row0, u0], dcp, H, &acts[t, row0, 0], gc,
                        ax, &hs[prev, row0, u0], cp, &dgx[0], ghp, t * N + row0, pw, ps,
                        &dpack[((s % 2) * nrb + rb) * panel], mr)
                else:
                    cyconv_rnn_bwd_tile_f64(
                        mode, rows, u0, units, hb, bw, tile, nr, &lengths[row0], t,
                        &dy[t, row0, u0], H, &carry[row0, u0], dcp, H, &acts[t, row0, 0], gc,
                        ax, &hs[prev, row0, u0], cp, &dgx[0], ghp, t * N + row0, pw, ps,
                        &dpack[((s % 2) * nrb + rb) * panel], mr)
