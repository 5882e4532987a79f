"""`python -m srgan_cli` (also the entry point torchrun uses: `torchrun -m srgan_cli train ...`)."""

from srgan_cli.cli.app import main

if __name__ == "__main__":
    main()
