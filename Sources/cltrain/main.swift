print("cltrain")
