"""follicle_seg: transvaginal ultrasound follicle counts and sizes per ovary per visit."""

__version__ = "0.1.0"
