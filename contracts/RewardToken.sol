// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title zkfl reward token (ZKR)
/// @notice The reward token of local chains (demo and tests); real networks name an existing ERC-20 instead.
contract RewardToken is ERC20, Ownable {
    constructor(address initialOwner) ERC20("zkfl reward", "ZKR") Ownable(initialOwner) {}

    /// @notice Owner only: creates tokens.
    /// @param to Who receives them.
    /// @param amount Token base units.
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
