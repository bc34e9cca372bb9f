"""Write the example shop's logs (banners, baskets, stock), its mappings and shop.toml into a directory.

    python examples/shop/make_shop.py --out DIR [--size tiny|full] [--seed 0]

The same as ``retailrl data example-shop --out DIR``; the generator is
:func:`sim_data.synthetic.example_shop_world.write_shop`, the mappings and ``shop.toml`` are the files beside
this script (links to the package's copies, which the installed command uses).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from sim_data.synthetic.example_shop_world import SIZES, write_shop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    write_shop(args.out, args.size, args.seed)
    print(f"wrote the example shop to {args.out}")


if __name__ == "__main__":
    main()
