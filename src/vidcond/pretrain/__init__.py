"""The stage before condensation: networks and models the methods and KD jobs read.

* :mod:`.teacher`      the soft-label / KD teacher, trained on the real training split;
* :mod:`.experts`      expert trajectories of trajectory matching (MTT, DATM);
* :mod:`.interpolator` the parametric frame interpolator ("Dancing with Still Images");
* :mod:`.diffusion`    the video diffusion model of the GVD methods.

Nothing here imports from :mod:`vidcond.methods` (generic helpers live in
:mod:`vidcond.data`).
"""
