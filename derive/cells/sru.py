from symcell.derive import Cell, register, sigmoid


@register
class SRU(Cell):
    """Simple recurrent unit: an elementwise recurrence (no recurrent matrix) with a highway output.

    f = sigma(a_f + v_f c), r = sigma(a_r + v_r c), c' = f c + (1 - f) x~, h' = r c' + (1 - r) x^, where
    x~ = a_x and x^ = a_p are projections of the input (SRU's W x and, for an input size other than H, the
    highway projection W' x); v_f, v_r are per-unit weights (the paper's v, eqs. 4-7). The projections'
    biases are extra to the paper's equations (zero them to match).
    """

    name = "sru"
    states = ("h", "c")
    gates = ("x", "f", "r", "p")
    unit_params = ("v_f", "v_r")
    recurrent_matrix = False
    citation = "Lei, Zhang, Wang, Dai, Artzi 2018, Simple recurrent units for highly parallelizable recurrence " \
               "(EMNLP 2018), arXiv 1709.02755, eqs. 4-7"

    def update(self, s, a):
        f = sigmoid(a.f + self.p.v_f * s.c)
        r = sigmoid(a.r + self.p.v_r * s.c)
        c = f * s.c + (1 - f) * a.x
        return {"h": r * c + (1 - r) * a.p, "c": c}
